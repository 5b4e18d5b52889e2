"""One row of Lucic et al. (2018), Table 2, at their protocol: ``configs/lucic_mnist.py:ROW[,fashion]``.

Command:
    python -m jaxgan.train --config configs/lucic_mnist.py:ns_gan            # MNIST
    python -m jaxgan.train --config configs/lucic_mnist.py:began,fashion     # Fashion-MNIST

Rows: mm_gan, ns_gan, lsgan, wgan, wgan_gp, dragan, began. Networks, prior, batch,
length and each row's hyper-parameters: jaxgan.systems.lucic_configs (their
compare_gan defaults). The whole table with FIDs: benchmarks/lucic_table.py.
Measured here (docs/results.md, 7.2): MNIST at a tenth of the protocol, 4-9
minutes a row on 2 CPU cores; a full-protocol row takes about 72 minutes.
"""

from jaxgan.systems.lucic_configs import lucic_config


def get_config(spec: str = "ns_gan"):
    row, _, dataset = spec.partition(",")
    return lucic_config(row, dataset)
