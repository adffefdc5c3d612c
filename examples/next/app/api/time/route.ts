import { renderedAt } from '../../data'

export async function GET() {
  return Response.json(await renderedAt())
}
