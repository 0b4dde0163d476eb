npx tsc -p tsconfig.json
