"""Autoencoders: the views of the Autoencoders page (latent space, PCA baseline, decoder artefacts). The
``reconstruct`` task lives with the engine (``playground.train.reconstruct``), the input corruptions with
the data (``playground.data.noise``, re-exported here)."""

from ..data.noise import NOISES, Corruption, build_noise, list_noises, parse_noise

__all__ = ["NOISES", "Corruption", "build_noise", "list_noises", "parse_noise"]
