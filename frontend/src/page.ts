// What every page module provides to the router in main.ts.

export interface Page {
  /** The page's root element; main.ts mounts it before the first update. */
  readonly el: HTMLElement;
  /** Loads the page's data and redraws it: on mount and on every refresh. */
  update(): Promise<void>;
  /** Frees charts and timers when the route changes. */
  destroy?(): void;
}

export type PageFactory = (arg: string) => Page;
