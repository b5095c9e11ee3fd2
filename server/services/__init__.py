"""Use cases. Each write is one transaction: authorize, validate, change, audit, commit."""
