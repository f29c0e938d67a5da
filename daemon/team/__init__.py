"""Team mode: one budget and shared cooldowns across every member's daemon, on PostgreSQL.

Only shared state lives in the database (budget counters, leases, settled attempts,
report rows, health notices); requests still go from each laptop straight to its
providers, with its own keys.
"""
