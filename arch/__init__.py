"""Templates the code generator fills (shipped as package data)."""
