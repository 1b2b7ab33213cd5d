"""Rookery operations tooling: the service catalogue and what is generated from it.

`catalogue` holds the one description of the three services (names, ports, protocols,
health paths, gateway auth). `marchproxy_config` turns it into config/marchproxy/*.json,
`importer` publishes those services to a MarchProxy api-server; `marchproxy_schema` checks
every document and request body against MarchProxy's JSON Schema first.
"""
