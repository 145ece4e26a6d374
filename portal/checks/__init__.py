"""Restriction checks: flags for verified users, full records for owners and registrars."""
