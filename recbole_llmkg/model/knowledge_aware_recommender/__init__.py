"""Knowledge-aware plugin models, and drop-in repairs of RecBole KG models (KGAT, KGIN, MCCLK)."""
