"""The console commands: ``fast-rllib`` (repositories, autoencoder, frames) and ``rllib train file``."""
