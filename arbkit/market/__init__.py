"""Market history: exact AMM and gas math, data contracts, real-data loaders, the example market."""
