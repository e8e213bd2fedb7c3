"""Benchmarks of the GuardDuty lake pipeline on this machine (`make bench`, `make bench-quick`)."""
