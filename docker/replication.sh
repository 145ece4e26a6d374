#!/usr/bin/env bash
# Let the replica container stream from this server (docker-compose profile "replica").
set -e
echo "host replication cadastre all scram-sha-256" >> "$PGDATA/pg_hba.conf"
