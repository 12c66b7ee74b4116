"""Front doors that speak another API than the canonical one: their conversions, one package per API."""
