"""Shared test helpers: finding builders, stubs, the lake builder, S3 servers, ports, browser."""
