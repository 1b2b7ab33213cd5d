"""Rookery operations tooling: the service catalogue and what is generated from it.

`catalogue` holds the one description of the three services (names, ports, protocols,
health paths, gateway auth). `marchproxy_config` turns it into config/marchproxy/*.json,
`importer` publishes those services to a MarchProxy api-server.
"""
