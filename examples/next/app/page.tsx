import { renderedAt } from './data'

// Prerendered at build, then served from the cache: the same value on every instance.
export default async function Page() {
  const { at, by } = await renderedAt()
  return (
    <main>
      <p id="rendered">{`rendered at ${at} by process ${by}`}</p>
      <p>POST /api/revalidate?tag=clock on any instance: the next request on every instance gets a new time.</p>
    </main>
  )
}
