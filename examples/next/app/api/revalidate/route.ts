import { revalidatePath, revalidateTag } from 'next/cache'

/** POST ?tag=clock (optionally &profile=max), or ?path=/ : expires it on every instance. */
export async function POST(request: Request) {
  const url = new URL(request.url)
  const tag = url.searchParams.get('tag')
  const path = url.searchParams.get('path')
  if (tag) revalidateTag(tag, url.searchParams.get('profile') === 'max' ? 'max' : { expire: 0 })
  if (path) revalidatePath(path)
  return Response.json({ revalidated: tag ?? path })
}
