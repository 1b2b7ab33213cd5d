"""Packet-filter rules: their model and their storage (publishing lives in `packet_link`)."""
