"""Outcomes reported back by the CRM: checking a report (`intake`), storing it and releasing
`not_sent` contacts (`store`), importing a file of them (`import_file`) and the command (`cli`)."""
