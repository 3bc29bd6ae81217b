"""What the test folders share, so that no test module or conftest imports another: PostgreSQL clusters
and the bridge install (cluster.py), routerd in process and as a subprocess plus the gRPC client
(routerd.py), SQL sessions and the SQL install (sql.py), agent sets (agents.py), and the store suite's
records and raw reads (store.py). Conftests hold only fixtures built from these."""
