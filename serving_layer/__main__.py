import sys

from serving_layer.main import main

sys.exit(main())
