"""Identity and access: domains, accounts, users, roles, API keys, login sessions."""
