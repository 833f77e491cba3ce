"""Guest networking: network offerings, networks, NICs and their addresses (rules, routers, VPC follow)."""
