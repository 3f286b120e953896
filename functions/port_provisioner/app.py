"""Custom::PortResources: creates and updates the Port resources of port/ when the stack deploys.

`port` beside this file is a symbolic link to the repository's port/ folder: `sam build` copies what it points
to into the function's artifact (and its build cache hashes those files, so a changed JSON rebuilds it).
"""

from pathlib import Path

from incident_core.usecases.provisioning import make_port_provisioner_handler

handler = make_port_provisioner_handler(Path(__file__).resolve().parent / "port")
