"""Packet-filter rules: their model, their storage, and their journey to packet-service."""
