// marked-man ships no types: it is a marked extension with a few options of its own.
declare module "marked-man" {
  import type { MarkedExtension } from "marked";

  const markedMan: MarkedExtension;
  export default markedMan;
}
