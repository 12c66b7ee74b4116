"""What the front doors that speak another API than the canonical one translate: one package per API."""
