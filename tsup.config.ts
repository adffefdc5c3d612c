import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts', next: 'src/next/index.ts', cli: 'src/cli.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // The CommonJS build gets `import.meta.url`, from which src/scripts.ts finds lua/.
  shims: true,
})
