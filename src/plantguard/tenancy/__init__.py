"""Tenancy: enterprises (the tenant), sites, areas, people, teams, skills, certificates, users."""
