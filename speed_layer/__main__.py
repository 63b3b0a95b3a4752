from speed_layer.service import main

main()
