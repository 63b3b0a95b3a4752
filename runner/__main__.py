import sys

from runner.pipeline import main

sys.exit(main())
