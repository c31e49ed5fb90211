import './base.css';
import './broadcast.css';
import './system.css';
import './replay.css';
