"""flask-backend's link to packet-service: targets and their client, the rule publisher,
and the statistics view (rates and series from packet-service's history or Prometheus)."""
