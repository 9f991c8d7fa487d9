"""Autoencoders: the ``reconstruct`` task, input corruptions (noise), and the views of the
Autoencoders page (latent space, PCA baseline, decoder artefacts)."""

from .noise import NOISES, Corruption, build_noise, list_noises, parse_noise

__all__ = ["NOISES", "Corruption", "build_noise", "list_noises", "parse_noise"]
