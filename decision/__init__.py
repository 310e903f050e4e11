"""The one decision engine: candidate grid, scoring through the model bundle, the rules that
allow an option, the choice and its propensities. Everything that decides or judges a decision
decides through `decision.engine.Engine`."""
