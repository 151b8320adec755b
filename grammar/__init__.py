"""The Lark grammar of Faust (shipped as package data)."""
