import sys

from agentsmall.cli import main

sys.exit(main())
