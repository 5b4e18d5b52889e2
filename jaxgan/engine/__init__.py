"""The engine every system trains on, written once.

* :mod:`~jaxgan.engine.state`: the train state (params, collections, optimizer
  states, EMAs by name; step, data position, base key; the system's extra state);
* :mod:`~jaxgan.engine.context`: what a group's loss calls networks and draws through;
* :mod:`~jaxgan.engine.step`: the jitted, ``shard_map``-ped, donated step of a phase;
* :mod:`~jaxgan.engine.trainer`: the loop (``run(config, workdir)``);
* :mod:`~jaxgan.engine.checkpoint`: Orbax around the state, structural-field checks;
* :mod:`~jaxgan.engine.sampling`: images from a state or a workdir;
* :mod:`~jaxgan.engine.stopping`: preemption, non-finite values, unwritable workdirs.
"""
