import os
import sys

# the reference harness and the corpus helpers live beside the tests
sys.path.insert(0, os.path.dirname(__file__))
