import sys

from speed_layer.service import main

sys.exit(main())
