import sys

from ingest.main import main

sys.exit(main())
