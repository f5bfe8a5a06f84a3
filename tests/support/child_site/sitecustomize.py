"""Python imports this at the start of every process the suite starts, as tests/conftest.py
names this folder in their PYTHONPATH: the suite's DNS guard (tests/support/dns_guard.py) holds
there too, with no switch in deskhook itself."""

from tests.support.dns_guard import install_from_environment

install_from_environment()
