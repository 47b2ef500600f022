/** A backend's role in a cutover: the PBX traffic moves away from (`old`) or the one it moves to (`new`). */
export type BackendRole = "old" | "new";
