# pytest's importlib mode names gateway/tests/test_x.py "gateway.tests.test_x" and would create an empty
# stand-in for any parent package not yet imported, shadowing the real one. Import the real ones first.
import contracts  # noqa: F401
import gateway  # noqa: F401
