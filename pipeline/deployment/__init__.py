"""The simulated deployment: the whole loop run day by day on a simulated bank (`loop`), the
service's side of it (`service`), the CRM (`crm`), what it says (`summary`, `report`) and its
command (`cli`)."""
