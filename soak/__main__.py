from soak.run import main

main()
