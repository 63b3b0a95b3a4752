from serving_layer.main import main

main()
