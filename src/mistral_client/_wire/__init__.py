"""The wire types: what we send and what the API answers, as msgspec Structs."""
