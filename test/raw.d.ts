/** A file's text, imported with Vite's `?raw` suffix (every test project goes through Vite). */
declare module '*?raw' {
  const text: string
  export default text
}
